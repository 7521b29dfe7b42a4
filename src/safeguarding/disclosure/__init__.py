"""Privacy controls: pseudonymisation of identifiers, and disclosure control of published tables."""
