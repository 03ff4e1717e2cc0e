"""Evaluation on recorded outcomes: how good a router or a cascade is, measured on real answers."""
