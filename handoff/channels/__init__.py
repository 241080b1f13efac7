"""Ways out to residents other than the web widget (which reads the API itself): Telegram."""
