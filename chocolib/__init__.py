"""chocolib: the library behind the chocolate-counting notebooks.

The notebooks narrate; this package does the work, one module per concern:
`classes` (the 13 kinds and their orders), `dataset` (the Kaggle layout), `synthetic` (the embedded
dataset), `annotations` (box exports → YOLO labels), `plots`, `profiles`, `paths`, `pipeline` and
`cli` (`python -m chocolib ...`).
"""

from chocolib.errors import ChocoError

__all__ = ["ChocoError"]
__version__ = "0.1.0"
