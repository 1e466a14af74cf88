"""``python -m aiofiles_c.bench``: see the package's docstring."""
from ._main import main

main()
