"""Postmortems: gather what the database knows, render a template, publish, track status."""
