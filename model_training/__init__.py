"""Training and evaluation of the classifier and segmenter; exports to the viewer's format."""
