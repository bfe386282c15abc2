"""One module per dashboard page: its layout, pure helpers and callbacks."""
