"""What is read off the model: shapes, parameters, Caffe's checks, comparisons, modules,
the automatic point and its advice."""

# The fork layers' shape rules build on those of shapes and register themselves into its
# table on import; importing them with the package means that whichever analysis module is
# imported first, inference knows them, and shapes itself needs no import of its plug-ins.
from . import forkrules  # noqa: F401
