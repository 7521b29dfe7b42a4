"""Charts and the monitor report: one self-contained HTML file over every area of the store."""
