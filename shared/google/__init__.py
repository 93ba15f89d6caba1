"""Google Wallet: the issuer side of Google's pass APIs."""
