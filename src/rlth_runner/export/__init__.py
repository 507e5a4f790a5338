"""Tickets that leave the lab: `rlth-export` (cli.py) and `rlth_runner.load_ticket`.

    cli.py       the command: arguments, one-line errors, the printed summary
    source.py    the run and round to export, refused with one line when unusable
    exporter.py  what the command writes, each derived network checked before it is
    ticket.py    ticket.safetensors + ticket.json, written and loaded
    forward.py   the network as a list of plain operations (ticket.json's `forward`)
    specnet.py   an nn.Module that runs such a list: the compacted network
    compact.py   removes what the masks made dead, exactly
    bounds.py    how far two float32 evaluations of one network may differ
    csr.py       linear layers stored and run as sparse CSR
    to_onnx.py   the compacted network through torch.onnx, checked by onnxruntime
    bench.py     inference speed and file size of each form; semi.py: 2:4 sparsity on a GPU

docs/export.md documents the files' formats.
"""
