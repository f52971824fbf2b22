"""svd: singing voice detection with a CNN written from scratch (Schlüter & Grill, ISMIR 2015)."""
