"""Server-side pieces Rasa loads by module path: the private tracker store and its helpers."""
