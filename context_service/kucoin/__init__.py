"""KuCoin safety and offline support: key check, live preflight, markets snapshot."""
