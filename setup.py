"""Package discovery only (metadata lives in pyproject.toml).

server/ and client/ are top-level folders of the project layout; they install as the packages vecdb_server and
vecdb_client, with every sub-package found automatically so nobody maintains a list by hand.
"""

from setuptools import find_packages, setup

MAPPED = {"server": "vecdb_server", "client": "vecdb_client"}

packages = find_packages(include=["vecdb", "vecdb.*", "benchmarks", "benchmarks.*"])
package_dir = {}
for folder, name in MAPPED.items():
    package_dir[name] = folder
    packages.append(name)
    packages += [f"{name}.{sub}" for sub in find_packages(where=folder)]

setup(packages=packages, package_dir=package_dir)
