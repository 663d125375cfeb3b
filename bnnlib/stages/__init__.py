"""The study's stages, one module each: what the numbered notebooks and ``dvc.yaml`` run.

=============  ==========================  ===========================================
module         notebook                    writes (under ``runs_dir``)
=============  ==========================  ===========================================
``data``       (the ``data`` stage)        ``data/raw/<dataset>`` (DVC-tracked)
``uniform``    01_uniform_baselines        ``uniform/<family>/<variant>/``
``supernet``   02_supernet                 ``supernet/<family>/``
``search``     03_search                   ``search/<family>/<method>/``
``retrain``    04_retrain                  ``retrain/<family>/<variant>/``
``tables``     05_tables                   ``reports/`` (tables, figures, claims, index)
=============  ==========================  ===========================================

Each stage reads a :class:`bnnlib.settings.View` (the settings it reads, by flat name) and keeps
to the modules it executes, so ``dvc.yaml`` can list exactly those as its dependencies. Every
persisted item records the fingerprint of what determines it and starts over, saying why,
when that differs (``docs/pipeline.md`` lists what each fingerprint covers).
"""
