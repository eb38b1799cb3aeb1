"""Predicted value: BG/NBD purchase counts, Gamma-Gamma spend and customer lifetime value."""
