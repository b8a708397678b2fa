"""Blueprints of the staff UI."""
