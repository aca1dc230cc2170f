"""Using a finished run: evaluate it, embed folders with its encoder (cached, one file schema), 2-D maps, export."""
