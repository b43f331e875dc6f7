"""Build step of the wheel: package data that git holds once, elsewhere in the tree.

A wheel must carry the embedded default case (``traces/cases.toml`` and its inputs in
``traces/default/``) and the C reference's sources (``c_reference/src``, ``c_reference/Makefile``)
so that nbparity works from a port's own environment and folder. They are copied into
``nbparity/_data/`` of the build folder only, never into the source tree; ``nbparity.resources``
reads them there in an installed wheel and where they live in a clone. Metadata and everything
else is in pyproject.toml; MANIFEST.in puts the same files into an sdist.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: project-relative source -> destination inside the package (nbparity/_data/...)
PACKAGE_DATA = {
    "traces/cases.toml": "traces/cases.toml",
    "traces/default": "traces/default",
    "c_reference/Makefile": "c_reference/Makefile",
    "c_reference/src": "c_reference/src",
}


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        # An editable install reads the files where they are (nbparity/resources.py): copying
        # them would only leave a stale second copy behind.
        if getattr(self, "editable_mode", False):
            return
        data = Path(self.build_lib) / "nbparity" / "_data"
        shutil.rmtree(data, ignore_errors=True)  # a reused build folder keeps no removed file
        for source, dest in PACKAGE_DATA.items():
            src, dst = ROOT / source, data / dest
            if not src.exists():
                raise SystemExit(f"setup.py: {source} is missing; it is the wheel's package data")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".*", "__pycache__"))
            else:
                shutil.copy2(src, dst)


setup(cmdclass={"build_py": BuildPyWithData})
