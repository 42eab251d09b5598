"""What is read off the model: shapes, parameters, Caffe's checks, comparisons, modules,
the automatic point and its advice."""
