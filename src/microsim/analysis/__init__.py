"""The analysis layer: one comparison of the exact reference with the approximate descriptions
(error measures, refinement in time) and the schema of the fields it produces."""
