"""One module per area of the monitor report; each exposes ``build(store) -> Section | None``."""
