# Writes real torch.save checkpoints for PickleCheckpointTorchFixtureTests (run with Debian's python3-torch 1.13:
# /usr/bin/python3 make_fixtures.py). Values are simple formulas so that the test knows them without this script.
import collections, json, torch

w = (torch.arange(6, dtype=torch.float32) / 8).reshape(2, 3)
state = collections.OrderedDict()
state["conv.weight"] = w
state["conv.weight_t"] = w.t()                    # a view sharing w's storage, non-contiguous
state["conv.bias"] = torch.tensor([0.5, -1.25], dtype=torch.float16)
state["norm.weight"] = torch.tensor([1.5, 2.0, -3.0], dtype=torch.bfloat16)
state["position_ids"] = torch.arange(5).unsqueeze(0)
state["mask"] = torch.tensor([True, False, True])
state["row"] = torch.arange(12, dtype=torch.float64)[4:8]   # a view at an offset into a larger storage

torch.save(state, "torch113_zip.bin")
torch.save(state, "torch113_legacy.bin", _use_new_zipfile_serialization=False)
torch.save(state, "torch113_zip_protocol4.bin", pickle_protocol=4)
model = torch.nn.Linear(3, 2)
with torch.no_grad():
    model.weight.copy_(w)
    model.bias.copy_(torch.tensor([0.25, -0.5]))
torch.save(dict(model.named_parameters()), "torch113_parameters.pt")    # nn.Parameter values: _rebuild_parameter
torch.save({"state_dict": model.state_dict(), "global_step": 7}, "torch113_wrapped.ckpt")

expected = {k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": v.float().flatten().tolist()} for k, v in state.items()}
json.dump(expected, open("expected.json", "w"), indent=1)
