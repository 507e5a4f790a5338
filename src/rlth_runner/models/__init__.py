"""Networks with stable layer names, so masks and checkpoints survive growth.

Each conf/model/<name>.yaml names its class with `_target_`; the class takes
`input_shape` and `num_classes` from the dataset and raises
`common.ModelInputError` when it cannot take that input.
"""
