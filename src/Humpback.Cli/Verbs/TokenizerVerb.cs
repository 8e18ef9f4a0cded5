using System.Diagnostics;
using CommandLine;
using Humpback.Formats;
using Humpback.IO;

namespace Humpback.Cli.Verbs;

[Verb("tokenizer", HelpText = "Byte-level BPE tokenizers: 'train' a new one on text files, 'encode' text with one.")]
public sealed class TokenizerVerb : ICommand
{
    [Value(0, MetaName = "action", Required = true, HelpText = "train | encode")]
    public string Action { get; set; } = "";

    [Option("corpus", HelpText = "train: UTF-8 text files (.gz too).")]
    public IEnumerable<string> Corpus { get; set; } = [];

    [Option("vocab-size", Default = 4096, HelpText = "train: total vocabulary (256 bytes + merges + 11 Llama-3 special tokens).")]
    public int VocabSize { get; set; }

    [Option("out", HelpText = "train: output folder (tokenizer.json, tokenizer_config.json, special_tokens_map.json).")]
    public string? Out { get; set; }

    [Option("force", HelpText = "train: replace --out even if it holds other files.")]
    public bool Force { get; set; }

    [Option("tokenizer", HelpText = "encode: folder with tokenizer.json.")]
    public string? Tokenizer { get; set; }

    [Option("text", HelpText = "encode: the text.")]
    public string? Text { get; set; }

    [Option("bos", HelpText = "encode: prepend <|begin_of_text|>.")]
    public bool Bos { get; set; }

    [Option("special", HelpText = "encode: turn special-token text (<|eot_id|>) into its id.")]
    public bool Special { get; set; }

    public Task<int> RunAsync(CancellationToken cancellationToken)
    {
        switch (Action)
        {
            case "train": return Task.FromResult(Train());
            case "encode": return Task.FromResult(Encode());
            default: throw new UsageException($"tokenizer {Action}: unknown action (train, encode)");
        }
    }

    private int Train()
    {
        List<string> files = Corpus.ToList();
        if (files.Count == 0) throw new UsageException("tokenizer train: --corpus needs at least one file");
        if (Out == null) throw new UsageException("tokenizer train: --out is required");
        foreach (string f in files)
        {
            if (!File.Exists(f)) throw new UsageException($"--corpus {f}: no such file");
        }
        VerbArgs.CheckReplaceable(Out, Force, HumpbackTokenizer.TokenizerFile);
        var sw = Stopwatch.StartNew();
        HumpbackTokenizer tok;
        try
        {
            tok = BpeTrainer.TrainFromFiles(files, new BpeTrainerOptions { VocabSize = VocabSize });
        }
        catch (ArgumentException e)
        {
            throw new UsageException($"--vocab-size {VocabSize}: {e.Message}", e);
        }
        AtomicFile.WriteDirectory(Out, tok.WriteFiles);
        Console.WriteLine($"{Out}: {tok.VocabSize} tokens ({tok.Merges.Count} merges) trained on {files.Count} file(s) in {sw.Elapsed.TotalSeconds:F1} s" +
            (tok.VocabSize < VocabSize ? $" — fewer than the {VocabSize} asked for: the corpus ran out of pairs to merge" : ""));
        return CliHost.ExitOk;
    }

    private int Encode()
    {
        if (Tokenizer == null || Text == null) throw new UsageException("tokenizer encode: --tokenizer and --text are required");
        HumpbackTokenizer tok = HumpbackTokenizer.Load(Tokenizer);
        int[] ids = tok.Encode(Text, Bos, Special);
        Console.WriteLine(string.Join(" ", ids));
        Console.WriteLine(string.Join(" | ", ids.Select(id => tok.TokenText(id))));
        return CliHost.ExitOk;
    }
}
