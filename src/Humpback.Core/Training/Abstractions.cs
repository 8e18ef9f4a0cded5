using Humpback.Model;

namespace Humpback.Training;

/// <summary>What training needs of a tokenizer: text → ids with special tokens such as &lt;|eot_id|&gt; parsed, and
/// never an implicit BOS (the collator adds it where the chat format needs it).</summary>
public interface ITextTokenizer
{
    int VocabSize { get; }
    int BosId { get; }
    int EosId { get; }
    int[] Encode(string text);
}

/// <summary>Where models come from and go to (implemented over the HF/PEFT formats).</summary>
public interface IModelStore
{
    (LlamaConfig Config, IReadOnlyDictionary<string, HostTensor> Weights) LoadBase(string dir);
    ITextTokenizer LoadTokenizer(string dir);
    /// <summary>Writes a full HF folder (config, weights, the base folder's tokenizer files), atomically.</summary>
    void SaveFull(string dir, LlamaConfig config, IReadOnlyDictionary<string, HostTensor> weights, string tokenizerSourceDir);
    /// <summary>Writes a PEFT adapter folder, atomically. Tensor names: "model.layers.{i}.self_attn.q_proj.lora_A.weight".</summary>
    void SaveAdapter(string dir, LoraSettings lora, IReadOnlyDictionary<string, HostTensor> tensors, string baseModelDir);
    (LoraSettings Settings, IReadOnlyDictionary<string, HostTensor> Tensors) LoadAdapter(string dir);
}
