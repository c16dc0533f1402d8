"""The ocrr command line."""
