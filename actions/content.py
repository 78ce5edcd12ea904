"""Only for scripts/evaluate.py, which is being changed elsewhere: the content loader is the `content`
package (content/__init__.py); import it from there. Remove this once evaluate.py does."""

from content import load_content

__all__ = ["load_content"]
