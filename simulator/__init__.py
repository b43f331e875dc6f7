"""Vectorised, differentiable PyTorch implementation of nanoBragg (the torch engine of nbparity)."""
