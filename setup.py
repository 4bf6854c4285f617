"""The package layout, which pyproject.toml cannot express on its own (metadata lives there).

One distribution, two import packages: `mer` from ./mer and `mer_builder` from the builder's own
folder (mer_dataset_builder/src/mer_builder, which also installs alone: `cd mer_dataset_builder &&
pip install -e .`). The YAML files of ./configs ship inside the package as `mer/configs/*.yaml`, so
`--config NAME` finds them in any installation; nothing else in the repository is packaged.
"""

from setuptools import find_packages, setup

BUILDER_SRC = "mer_dataset_builder/src"

setup(
    packages=[
        *find_packages(include=["mer", "mer.*"]),
        *find_packages(BUILDER_SRC, include=["mer_builder", "mer_builder.*"]),
        "mer.configs",
    ],
    package_dir={"mer_builder": f"{BUILDER_SRC}/mer_builder", "mer.configs": "configs"},
    package_data={"mer.configs": ["*.yaml"]},
)
