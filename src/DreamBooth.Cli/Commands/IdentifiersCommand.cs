using System.ComponentModel;
using DreamBooth.IO;
using DreamBooth.TinyWorld;
using DreamBooth.TinyWorld.Pretraining;
using DreamBooth.Tokenization;
using Spectre.Console;
using Spectre.Console.Cli;

namespace DreamBooth.Cli.Commands;

/// <summary>`dreambooth identifiers`: suggests rare single-token identifiers for a model's tokenizer (the paper's recipe).</summary>
public sealed class IdentifiersCommand : Command<IdentifiersCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("-m|--model <DIR>"), Description("Model folder (with tokenizer/) or a tokenizer folder. Default: the embedded tiny-world model.")]
        public string? Model { get; init; }

        [CommandOption("-n|--count <N>"), Description("How many identifiers to suggest."), DefaultValue(10)]
        public int Count { get; init; } = 10;

        [CommandOption("--seed <N>"), Description("Sample uniformly from the rare pool with this seed instead of listing the rarest first.")]
        public long? Seed { get; init; }

        public override ValidationResult Validate() =>
            Count < 1 ? ValidationResult.Error("--count must be at least 1")
            : Seed < 0 ? ValidationResult.Error($"--seed {Seed}: must be zero or positive")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var model = s.Model ?? ShippedModels.Find("tiny-world");
        var tokenizerDir = Directory.Exists(Path.Combine(model, "tokenizer")) ? Path.Combine(model, "tokenizer") : model;
        if (!File.Exists(Path.Combine(tokenizerDir, ClipTokenizer.VocabFileName)))
            throw new DreamBoothException($"--model {model}: no tokenizer found (expected {Path.Combine(model, "tokenizer", ClipTokenizer.VocabFileName)} or a tokenizer folder)");
        var tokenizer = ClipTokenizer.FromPretrained(tokenizerDir);
        // A tiny-world model (it records its pretraining) never saw a word outside the world's captions.
        bool tinyWorld = File.Exists(Path.Combine(model, TinyWorldPretrainer.RecordFileName));
        var excluded = tinyWorld ? new HashSet<string>(Captioner.Words, StringComparer.Ordinal) : null;
        var suggestions = RareIdentifiers.Suggest(tokenizer, s.Count, excluded, s.Seed);
        if (suggestions.Count == 0) throw new DreamBoothException($"--model {model}: the tokenizer has no rare {RareIdentifiers.MinLetters}–{RareIdentifiers.MaxLetters}-letter single-token words");

        var table = new Table().AddColumn("identifier").AddColumn(new TableColumn("token id").RightAligned())
            .AddColumn(new TableColumn("rarity rank").RightAligned()).AddColumn("example prompt");
        foreach (var c in suggestions)
            table.AddRow(Markup.Escape(c.Text), c.TokenId.ToString(), c.Rarity.ToString(), Markup.Escape($"a photo of {c.Text} dog"));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(Markup.Escape(
            $"{tokenizer.VocabSize} tokens; rare {RareIdentifiers.MinLetters}–{RareIdentifiers.MaxLetters}-letter words that encode to one token, " +
            "excluding common English words" + (tinyWorld ? " and every word of the tiny world's captions (their embeddings were never trained)." : ".") +
            " Rarity rank 0 = the last merge of the vocabulary."));
        return 0;
    }
}
