from configparser import ConfigParser
from pathlib import Path
import setuptools, shlex, shutil
from setuptools.command.build_py import build_py

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['Planning', 'Pre-Alpha', 'Alpha', 'Beta', 'Production/Stable', 'Mature', 'Inactive']
lic = licenses[cfg['license']]
min_python = cfg['min_python']
requirements = shlex.split(cfg.get('requirements', ''))
# the extras: `pip install "labkit[NAME]"` for each feature beyond the labs on the CPU; dev (the tests) takes them all
extras = {name: shlex.split(cfg.get(f'{name}_requirements', '')) for name in ('dask', 'vision', 'tensorboard')}
extras['dev'] = shlex.split(cfg.get('dev_requirements', '')) + sorted({r for reqs in extras.values() for r in reqs})
scripts = [s.strip() for s in cfg.get('console_scripts', '').split(',') if s.strip()]

class build_py_with_labs(build_py):
    "Also ship the lab notebooks of nbs/labs inside the package (labkit/_labs), so `labkit lab` runs from a wheel."
    def run(self):
        super().run()
        dst = Path(self.build_lib) / 'labkit' / '_labs'
        dst.mkdir(parents=True, exist_ok=True)
        for nb in sorted(Path('nbs/labs').glob('[0-9][0-9]_*.ipynb')): shutil.copy2(nb, dst / nb.name)

setuptools.setup(
    cmdclass={'build_py': build_py_with_labs},
    name=cfg['lib_name'],
    version=cfg['version'],
    license=lic[0],
    classifiers=['Development Status :: ' + str(int(cfg['status'])) + ' - ' + statuses[int(cfg['status'])],
                 'Intended Audience :: ' + cfg['audience'].title(),
                 'Natural Language :: ' + cfg['language'].title(),
                 'License :: ' + lic[1]],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['labkit', 'labkit.*']),
    include_package_data=True,
    install_requires=requirements,
    extras_require=extras,
    python_requires='>=' + min_python,
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    zip_safe=False,
    entry_points={'console_scripts': scripts, 'nbdev': [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d']},
    author=cfg['author'], author_email=cfg['author_email'],
    description=cfg['description'], keywords=cfg['keywords'],
)
