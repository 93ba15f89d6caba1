"""Apple's PassKit web service (device registrations) for Wallet devices."""
