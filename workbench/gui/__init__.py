"""The desktop app (PySide6). Everything Qt lives here; it calls the engine and never re-implements it.

Start-up path rule: nothing imported at module level here pulls in torch or umap (the window paints first);
the workers that need them import them inside the task.
"""
