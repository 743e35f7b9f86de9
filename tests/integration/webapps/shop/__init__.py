"""Two web apps written without fpack in mind: shop.api (FastAPI) and shop.site (Flask)."""
