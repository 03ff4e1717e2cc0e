"""Files shipped inside the package (the default router model)."""
