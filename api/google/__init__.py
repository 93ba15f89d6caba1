"""Google Wallet: Save links for integrators and customers, and Google's callbacks."""
