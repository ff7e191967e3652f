"""Figures and interactive explorers for the book's chapters; one module per topic."""
