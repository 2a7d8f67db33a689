"""The study wing: the helpers the numbered notebooks call, and the runner that executes them.

The method core (``fitclip/*.py``) never imports this package; it builds on the core only.

===============  ====================================================================================
module           what
===============  ====================================================================================
``project``      where a stage reads and writes (``<data_root>/<NN_stem>/``, figures, ``params.json``)
``recipes``      the stages' training configs, the students' launches, the toy recipe's sweep
``launch``       ``torchrun -m <module>`` from a notebook cell, as a subprocess streaming its log
``curves``       stage 04's α curves with their bootstrap CIs, the α chosen on validation, the α slider
``results``      result rows and item hits, headline metrics, the comparison table's rows, splits, world info
``confidence``   bootstrap CIs over items, paired differences, the "value [low, high]" cells
``verdicts``     the (a)–(e) verdicts, the order-only control and its multiple-comparison rule
``tables``       stage 05's benchmark report: the comparison with CIs, seeds and published tables, its files
``views``        per-class differences and per-query ranks (notebooks 06 and 07), readable labels
``published``    the paper's numbers, bundled as ``fitclip/data/published_results.csv``
``plots``        the notebooks' figures (matplotlib/seaborn)
``your_videos``  stage 08's side of :mod:`fitclip.search`: the demo's folder, the stages' students, the
                 gallery as a figure
``pipeline``     the runner: every notebook in order with Papermill (``python -m fitclip.pipeline``)
===============  ====================================================================================

Import from the module itself (``from fitclip.study.curves import choose_alpha``): importing this
package costs nothing more.
"""
