"""Flow parameters: one model per step, each flow's signature is exactly its model."""

from __future__ import annotations

import inspect
import typing

import pytest
from pydantic import ValidationError

from tasks.params import (
    DEFAULTS,
    DriftParams,
    FeatureParams,
    IngestParams,
    PipelineParams,
    ScoreParams,
    TrainerName,
    TrainParams,
)
from tasks.trainers import TRAINERS

FLOWS = {
    "flows.ingest:ingest_flow": IngestParams,
    "flows.features:features_flow": FeatureParams,
    "flows.train:train_flow": TrainParams,
    "flows.score:score_flow": ScoreParams,
    "flows.monitor:drift_flow": DriftParams,
    "flows.pipeline:customer_ml_pipeline": PipelineParams,
}


@pytest.mark.parametrize("entrypoint", FLOWS)
def test_flow_signature_is_its_model(entrypoint):
    import importlib

    module, name = entrypoint.split(":")
    flow = getattr(importlib.import_module(module), name)
    model = FLOWS[entrypoint]
    signature = inspect.signature(flow.fn)
    assert set(signature.parameters) == set(model.model_fields)
    for param in signature.parameters.values():
        assert param.default == model.model_fields[param.name].default, param.name
    schema = flow.parameters.model_dump()["properties"]
    assert all(schema[p].get("description") for p in schema), "the UI form shows descriptions"


def test_step_models_compose_into_the_pipeline_with_one_default_each():
    for model in (IngestParams, FeatureParams, TrainParams, ScoreParams, DriftParams):
        for name, field in model.model_fields.items():
            assert getattr(DEFAULTS, name) == field.default, name
    assert set(typing.get_args(TrainerName)) == set(TRAINERS)


def test_unknown_and_out_of_range_parameters_are_refused():
    with pytest.raises(ValidationError, match="extra"):
        PipelineParams(horizon=30)
    with pytest.raises(ValidationError, match="horizon_days"):
        FeatureParams(horizon_days=3)
    assert PipelineParams(drift_threshold=0.4).record()["drift_threshold"] == 0.4
