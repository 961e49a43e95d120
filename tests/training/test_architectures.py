"""A second architecture or encoder is a configuration change: CLI -> config -> spec -> network."""

from __future__ import annotations

import pytest
import torch

from model_training.classify import ClassifyConfig, classifier_spec
from model_training.cli import build_parser, classify_config, segment_config
from pneumoviewer.core.errors import ModelLoadError
from pneumoviewer.core.inference.models import build_classifier, build_segmenter


def test_classifier_architecture_flows_into_the_spec_and_network():
    a = build_parser().parse_args(
        ["classify", "--data", "d", "--out", "o", "--architecture", "resnet18", "--head", "softmax"]
    )
    config = classify_config(a, a.head)
    assert config.architecture == "resnet18"
    spec = classifier_spec(config, platt=None)
    assert (spec.architecture, spec.num_outputs) == ("resnet18", 2)
    net = build_classifier(spec)
    assert type(net).__name__ == "ResNet" and net.fc.out_features == 2
    assert classifier_spec(ClassifyConfig()).architecture == "densenet121"


def test_segmenter_architecture_and_encoder_flow_into_the_network():
    from model_training.segment import segmenter_spec

    a = build_parser().parse_args(
        ["segment", "--data", "d", "--out", "o", "--architecture", "fpn", "--encoder", "resnet18"]
    )
    config = segment_config(a, a.encoder)
    spec = segmenter_spec(config)
    assert (spec.architecture, spec.encoder) == ("fpn", "resnet18")
    net = build_segmenter(spec).eval()
    assert type(net).__name__ == "FPN"
    with torch.inference_mode():
        assert net(torch.rand(1, 3, 64, 64)).shape == (1, 1, 64, 64)


def test_unknown_encoder_is_refused_with_names():
    from dataclasses import replace

    from model_training.segment import SegmentConfig, segmenter_spec

    spec = replace(segmenter_spec(SegmentConfig()), encoder="resnet1234")
    with pytest.raises(ModelLoadError, match="unknown encoder 'resnet1234'.*resnet18"):
        build_segmenter(spec)
