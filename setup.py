from setuptools import find_packages, setup

setup(
    name="mediaextract",
    version="0.1.0",
    description="Lists of deleted MediaWiki file names -> a governed data set on HDFS",
    package_dir={"": "lib"},
    # Only what executors import; the sandbox (dev/mediaextract_sandbox) is development tooling.
    packages=find_packages("lib"),
    package_data={"mediaextract": ["defaults.yaml"]},
    python_requires=">=3.11",
    # Pinned in requirements.txt (runtime) and requirements-dev.txt (tests, sandbox, bench).
    install_requires=[],
)
