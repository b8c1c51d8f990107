"""The professional directory (annuaire): professionals, organisations and the roles linking them."""
