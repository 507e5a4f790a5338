"""Tickets that leave the lab: `rlth-export` (cli.py) and `rlth_runner.load_ticket`.

    forward.py  the network as a list of plain operations (the `forward` of ticket.json)
    specnet.py  an nn.Module that runs such a list: the compacted network
    compact.py  removes what the masks made dead, exactly
    bounds.py   how far two float32 evaluations of one network may differ
    ticket.py   ticket.safetensors + ticket.json, written and loaded
    csr.py      linear layers stored and run as sparse CSR
    bench.py    inference speed and file size of each form
    onnx.py     the compacted network through torch.onnx, checked by onnxruntime
    source.py   the run and round to export, refused with one line when unusable

docs/export.md documents the files' formats.
"""
