"""Drop-in APIs of other systems on r2e (``r2e.compat.r2egym``)."""
