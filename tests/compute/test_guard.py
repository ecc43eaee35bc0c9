"""borrowed_model: the user's model comes back exactly as it was lent."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from nnwidgets.compute import borrowed_model, model_device, predict


def _mixed_state(net: nn.Module) -> nn.Module:
    """The kind of state a user leaves: train mode with one frozen, eval submodule and hooks."""
    net.train()
    net.bn.eval()
    net.conv.weight.requires_grad_(False)
    net.fc.register_forward_hook(lambda module, args, out: None)
    net.conv.register_forward_pre_hook(lambda module, args: None)
    return net


def _add_everything(net: nn.Module) -> None:
    """What a careless computation might do inside the borrow."""
    net.fc.register_forward_hook(lambda module, args, out: None)
    net.fc.register_forward_hook(lambda module, args, kwargs, out: None, with_kwargs=True)
    net.conv.register_forward_pre_hook(lambda module, args: None)
    net.bn.register_full_backward_hook(lambda module, gin, gout: None)
    net.relu.register_full_backward_pre_hook(lambda module, gout: None)
    net.drop.train()
    for p in net.parameters():
        p.requires_grad_(not p.requires_grad)


def test_eval_inside_and_everything_restored(make_bn_net, fingerprint, same_fingerprint):
    net = _mixed_state(make_bn_net())
    before = fingerprint(net)
    with borrowed_model(net) as lent:
        assert lent is net
        assert not any(m.training for m in net.modules())
        _add_everything(net)
        with torch.inference_mode():
            net(torch.randn(4, 3, 8, 8))
    same_fingerprint(before, fingerprint(net))
    assert not net.bn._is_full_backward_hook


def test_restored_after_an_exception(make_bn_net, fingerprint, same_fingerprint):
    net = _mixed_state(make_bn_net())
    before = fingerprint(net)
    with pytest.raises(RuntimeError, match="boom"), borrowed_model(net):
        _add_everything(net)
        raise RuntimeError("boom")
    same_fingerprint(before, fingerprint(net))


def test_train_mode_model_gives_eval_outputs_and_keeps_its_statistics(
    make_bn_net, fingerprint, same_fingerprint
):
    net = make_bn_net().train()
    x = torch.randn(6, 3, 8, 8)
    reference = make_bn_net().eval()(x).detach()
    before = fingerprint(net)
    with borrowed_model(net), torch.inference_mode():
        first, second = net(x), net(x)
    assert torch.equal(first, second)  # no dropout noise
    torch.testing.assert_close(first, reference)
    same_fingerprint(before, fingerprint(net))
    assert net.training and net.drop.training


def test_eval_false_keeps_the_mode(make_bn_net):
    net = make_bn_net().train()
    with borrowed_model(net, eval=False):
        assert net.training and net.bn.training
        net.eval()
    assert net.training and net.bn.training


def test_nested_borrows_restore_once_at_the_end(make_bn_net):
    net = make_bn_net().train()
    with borrowed_model(net):
        with borrowed_model(net):
            assert not net.training
        assert not net.training
    assert net.training


def test_borrows_of_one_model_from_threads_wait_for_each_other(
    make_bn_net, fingerprint, same_fingerprint
):
    """The race: a borrow ending while another runs restored the model under it."""
    net = _mixed_state(make_bn_net())
    user_hooks = dict(net.fc._forward_hooks)
    before = fingerprint(net)
    entered, tried = threading.Event(), threading.Event()
    seen: dict[str, object] = {}

    def other() -> None:
        assert entered.wait(5)
        tried.set()
        with borrowed_model(net):
            # the first borrow has ended: none of its hooks or modes are left
            seen["hooks"] = dict(net.fc._forward_hooks)
            seen["drop training"] = net.drop.training
            net.fc.register_forward_hook(lambda *args: None)

    thread = threading.Thread(target=other)
    thread.start()
    with borrowed_model(net):
        net.fc.register_forward_hook(lambda *args: None)
        net.drop.train()
        entered.set()
        assert tried.wait(5)
        thread.join(0.3)
        assert thread.is_alive()  # it waits for this borrow to end
        assert "hooks" not in seen
    thread.join(5)
    assert seen == {"hooks": user_hooks, "drop training": False}
    same_fingerprint(before, fingerprint(net))


def test_threads_borrowing_one_model_never_see_each_other(
    make_bn_net, fingerprint, same_fingerprint
):
    net = _mixed_state(make_bn_net())
    before = fingerprint(net)
    user_hooks = {name: dict(m._forward_hooks) for name, m in net.named_modules()}
    problems: list[str] = []

    def work(name: str) -> None:
        for _ in range(200):
            with borrowed_model(net):
                if {n: dict(m._forward_hooks) for n, m in net.named_modules()} != user_hooks:
                    problems.append(f"{name} saw another borrow's hooks")
                if any(m.training for m in net.modules()):
                    problems.append(f"{name} saw a module in train mode")
                handle = net.fc.register_forward_hook(lambda *args: None)
                net.drop.train()
                net.conv.bias.requires_grad_(False)
                if list(net.fc._forward_hooks)[-1] != handle.id or not net.drop.training:
                    problems.append(f"{name} lost its own changes")
                with borrowed_model(net):  # nested in one thread: no wait, one snapshot
                    assert not net.bn.training
                net.drop.eval()

    threads = [threading.Thread(target=work, args=(f"thread {i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not problems, problems[:3]
    same_fingerprint(before, fingerprint(net))


def test_borrows_of_different_models_do_not_wait(make_bn_net):
    first, second = make_bn_net(), make_bn_net()
    done = threading.Event()

    def other() -> None:
        with borrowed_model(second):
            done.set()

    with borrowed_model(first):
        thread = threading.Thread(target=other)
        thread.start()
        assert done.wait(5)
    thread.join(5)


def test_rejects_non_modules():
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"), borrowed_model(lambda x: x):
        pass


def test_model_device():
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(nn.ReLU()) is None
    with_buffer = nn.BatchNorm1d(2, affine=False)
    assert model_device(with_buffer) == torch.device("cpu")


def test_predict_untouched_and_returns_a_normal_tensor(make_bn_net, fingerprint, same_fingerprint):
    net = _mixed_state(make_bn_net())
    before = fingerprint(net)
    x = torch.randn(3, 3, 8, 8)
    scores = predict(net, x)
    same_fingerprint(before, fingerprint(net))
    assert scores.shape == (3, 5)
    assert not scores.is_inference() and not scores.requires_grad
    scores += 1  # usable in place outside inference mode
    with torch.no_grad():
        expected = make_bn_net().eval()(x)
    torch.testing.assert_close(scores - 1, expected)


def test_compute_imports_nothing_from_jupyter():
    code = (
        "import sys, nnwidgets.compute; "
        "loaded = [m for m in ('ipywidgets', 'anywidget', 'traitlets') if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_the_test_fingerprint_sees_every_hook_the_borrow_restores(
    make_bn_net, fingerprint, same_fingerprint
):
    from nnwidgets.compute._guard import _HOOK_DICTS

    seen = {name for _, name in fingerprint(make_bn_net())["hooks"]}
    assert set(_HOOK_DICTS) <= seen
    leaks = [
        lambda n: n.fc.register_forward_hook(lambda *a: None),
        lambda n: n.fc.register_forward_hook(lambda *a: None, with_kwargs=True),
        lambda n: n.fc.register_forward_hook(lambda *a: None, always_call=True),
        lambda n: n.conv.register_forward_pre_hook(lambda *a: None),
        lambda n: n.conv.register_forward_pre_hook(lambda *a: None, with_kwargs=True),
        lambda n: n.bn.register_full_backward_hook(lambda *a: None),
        lambda n: n.relu.register_full_backward_pre_hook(lambda *a: None),
    ]
    for leak in leaks:
        net = make_bn_net()
        before = fingerprint(net)
        leak(net)
        with pytest.raises(AssertionError):
            same_fingerprint(before, fingerprint(net))
