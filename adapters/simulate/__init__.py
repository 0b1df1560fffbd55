"""``iit simulate``: backtests of a product through the real domain on a price path."""
