using System.Text;
using DreamBooth.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace DreamBooth.Tokenization;

/// <summary>
/// The CLIP tokenizer of Stable Diffusion, reproducing transformers' slow <c>CLIPTokenizer</c> without ftfy exactly:
/// added/special tokens are split out of the text first (so SD2's pad token "!" becomes id 0 wherever it occurs);
/// every other stretch is cleaned (<see cref="ClipTextCleaner"/>: control characters dropped, whitespace collapsed,
/// CJK spaced, NFC, lower-cased, accents kept), cut into pieces by CLIP's pattern and byte-level BPE-encoded with the
/// <c>&lt;/w&gt;</c> end-of-word suffix. <see cref="Encode"/> adds bos/eos, truncates to <see cref="ModelMaxLength"/>
/// (bos + the first max − 2 tokens + eos) and pads with the pad token.
/// Loaded from a diffusers <c>tokenizer/</c> folder: <c>vocab.json</c>, <c>merges.txt</c>, and optionally
/// <c>tokenizer_config.json</c>, <c>special_tokens_map.json</c>, <c>added_tokens.json</c>. Thread-safe.
/// </summary>
public sealed class ClipTokenizer
{
    /// <summary>Vocabulary file name in a tokenizer folder.</summary>
    public const string VocabFileName = "vocab.json";

    /// <summary>Merge-rules file name in a tokenizer folder.</summary>
    public const string MergesFileName = "merges.txt";

    /// <summary>Legacy added-token table (token → id) that older transformers versions write.</summary>
    public const string AddedTokensFileName = "added_tokens.json";

    /// <summary>CLIP's context length, used when the config gives no <c>model_max_length</c>.</summary>
    public const int DefaultModelMaxLength = 77;

    /// <summary>Largest <c>model_max_length</c> accepted.</summary>
    public const int MaxModelMaxLength = 1 << 16;

    private static readonly AddedToken DefaultBos = new("<|startoftext|>");
    private static readonly AddedToken DefaultEos = new("<|endoftext|>");

    private readonly ClipBpe _bpe;
    private readonly Dictionary<string, int> _addedIds;
    private readonly Dictionary<int, AddedToken> _addedTokens;
    private readonly string[] _addedByLength;
    private readonly HashSet<int> _specialIds;
    private readonly HashSet<string> _decodeApart;

    private ClipTokenizer(string dir, TokenizerConfig config, ClipBpe bpe)
    {
        Config = config;
        _bpe = bpe;
        var configPath = Path.Combine(dir, TokenizerConfig.FileName);
        var vocabPath = Path.Combine(dir, VocabFileName);

        // Added tokens, in transformers' order: added_tokens_decoder, then added_tokens.json, then the special tokens.
        _addedTokens = new Dictionary<int, AddedToken>();
        foreach (var (key, token) in config.AddedTokensDecoder ?? new Dictionary<string, AddedToken>())
        {
            if (!int.TryParse(key, System.Globalization.NumberStyles.None, null, out int id))
                throw new DreamBoothException($"{configPath}: added_tokens_decoder key '{key}' is not a token id");
            _addedTokens[id] = token ?? throw new DreamBoothException($"{configPath}: added_tokens_decoder entry '{key}' is null, expected a token object");
        }
        var legacyPath = Path.Combine(dir, AddedTokensFileName);
        if (File.Exists(legacyPath))
        {
            foreach (var (content, id) in ConfigJson.Read<Dictionary<string, int>>(legacyPath))
            {
                if (id < 0) throw new DreamBoothException($"{legacyPath}: token '{content}' has negative id {id}");
                _addedTokens.TryAdd(id, new AddedToken(content) { Normalized = true });
            }
        }
        _addedIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (id, token) in _addedTokens)
            if (token.Content.Length > 0) _addedIds[token.Content] = id; // an empty token would match everywhere

        var additional = new List<int>();
        BosTokenId = ResolveSpecial(config.BosToken ?? DefaultBos, "bos_token", vocabPath);
        EosTokenId = ResolveSpecial(config.EosToken ?? DefaultEos, "eos_token", vocabPath);
        UnkTokenId = ResolveSpecial(config.UnkToken ?? DefaultEos, "unk_token", vocabPath);
        PadTokenId = ResolveSpecial(config.PadToken ?? DefaultEos, "pad_token", vocabPath);
        foreach (var token in config.AdditionalSpecialTokens ?? [])
            additional.Add(ResolveSpecial(token ?? throw new DreamBoothException($"{configPath}: additional_special_tokens holds a null entry"), "additional_special_tokens entry", vocabPath));

        _specialIds = [BosTokenId, EosTokenId, UnkTokenId, PadTokenId, .. additional];
        // transformers decodes non-special added tokens (and additional specials beyond the vocabulary) as separate words.
        _decodeApart = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (id, token) in _addedTokens)
            if (!_specialIds.Contains(id) || (additional.Contains(id) && id >= bpe.VocabSize)) _decodeApart.Add(token.Content);
        _addedByLength = _addedIds.Keys.OrderByDescending(c => c.Length).ToArray();

        long maxLength = config.ModelMaxLength ?? DefaultModelMaxLength;
        if (maxLength < 2 || maxLength > MaxModelMaxLength)
            throw new DreamBoothException($"{configPath}: model_max_length {maxLength} is out of range (2..{MaxModelMaxLength})");
        ModelMaxLength = (int)maxLength;
    }

    /// <summary>The tokenizer's configuration (tokenizer_config.json with special_tokens_map.json applied).</summary>
    public TokenizerConfig Config { get; }

    /// <summary>Length that <see cref="Encode"/> truncates and pads to (77 for CLIP).</summary>
    public int ModelMaxLength { get; }

    /// <summary>Id of the beginning-of-sequence token (49406 for CLIP).</summary>
    public int BosTokenId { get; }

    /// <summary>Id of the end-of-sequence token (49407 for CLIP).</summary>
    public int EosTokenId { get; }

    /// <summary>Id used for BPE tokens missing from the vocabulary.</summary>
    public int UnkTokenId { get; }

    /// <summary>Id used for padding: 49407 (eos) for SD1.x, 0 ("!") for SD2.x.</summary>
    public int PadTokenId { get; }

    /// <summary>Number of entries in vocab.json (transformers' <c>vocab_size</c>; added tokens not included).</summary>
    public int VocabSize => _bpe.VocabSize;

    /// <summary>Number of merge rules in use.</summary>
    public int MergeCount => _bpe.MergeCount;

    /// <summary>The base vocabulary (token string → id), e.g. to search for rare single-token identifiers.</summary>
    public IReadOnlyDictionary<string, int> Vocab => _bpe.Vocab;

    /// <summary>The added tokens (special tokens included) by id.</summary>
    public IReadOnlyDictionary<int, AddedToken> AddedTokens => _addedTokens;

    /// <summary>
    /// Loads a tokenizer folder (<c>vocab.json</c>, <c>merges.txt</c>, optional configs). Missing or malformed files, bad
    /// merge lines and special tokens missing from the vocabulary give a one-line <see cref="DreamBoothException"/>.
    /// </summary>
    public static ClipTokenizer FromPretrained(string tokenizerDir)
    {
        if (!Directory.Exists(tokenizerDir)) throw new DreamBoothException($"{tokenizerDir}: tokenizer folder not found");
        var config = TokenizerConfig.Load(tokenizerDir);
        var bpe = ClipBpe.Load(Path.Combine(tokenizerDir, VocabFileName), Path.Combine(tokenizerDir, MergesFileName));
        return new ClipTokenizer(tokenizerDir, config, bpe);
    }

    /// <summary>The id of a token (added tokens first, then the vocabulary), or null when it has none.</summary>
    public int? TokenToId(string token) => _addedIds.TryGetValue(token, out int id) ? id : _bpe.TokenToId(token);

    /// <summary>The token string of an id (added tokens first, then the vocabulary), or null when no token has it.</summary>
    public string? IdToToken(int id) => _addedTokens.TryGetValue(id, out var token) ? token.Content : _bpe.IdToToken(id);

    /// <summary>The BPE token strings of <paramref name="text"/> (transformers' <c>tokenize()</c>), e.g. "a&lt;/w&gt;", "photo&lt;/w&gt;".</summary>
    public IReadOnlyList<string> Tokenize(string text)
    {
        var tokens = new List<string>();
        TokenizeCore(text, tokens, null);
        return tokens;
    }

    /// <summary>The token ids of <paramref name="text"/> without bos/eos, truncation or padding.</summary>
    public IReadOnlyList<int> EncodeTokens(string text)
    {
        var ids = new List<int>();
        TokenizeCore(text, null, ids);
        return ids;
    }

    /// <summary>
    /// Encodes a prompt to exactly <see cref="ModelMaxLength"/> ids: bos, the prompt's tokens (the first max − 2 when it
    /// is longer: the rest is dropped), eos, pad ids. A truncation is reported through <paramref name="warn"/> and in
    /// <see cref="TokenizedPrompt.TruncationWarning"/>.
    /// </summary>
    public TokenizedPrompt Encode(string prompt, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var ids = EncodeTokens(prompt);
        int keep = Math.Min(ids.Count, ModelMaxLength - 2);
        var input = new int[ModelMaxLength];
        var mask = new int[ModelMaxLength];
        input[0] = BosTokenId;
        for (int i = 0; i < keep; i++) input[i + 1] = ids[i];
        input[keep + 1] = EosTokenId;
        for (int i = keep + 2; i < ModelMaxLength; i++) input[i] = PadTokenId;
        for (int i = 0; i < keep + 2; i++) mask[i] = 1;

        var untruncated = new int[ids.Count + 2];
        untruncated[0] = BosTokenId;
        for (int i = 0; i < ids.Count; i++) untruncated[i + 1] = ids[i];
        untruncated[^1] = EosTokenId;

        int dropped = ids.Count - keep;
        string? warning = null;
        if (dropped > 0)
        {
            // The text itself is named by its start (the warning does not know whether it is a prompt or a negative
            // prompt), and both it and the dropped part are shortened: a 10,000-character prompt must not become a 10 kB line.
            var droppedText = Decode(ids.Skip(keep), skipSpecialTokens: true);
            warning = $"text \"{Shorten(prompt.Trim())}\" truncated to {ModelMaxLength} tokens: {dropped} token(s) dropped: \"{Shorten(droppedText)}\"";
            warn?.Invoke(warning);
        }
        return new TokenizedPrompt(prompt, input, mask, untruncated) { DroppedTokens = dropped, TruncationWarning = warning };
    }

    private static string Shorten(string text, int max = 60) => text.Length <= max ? text : text[..max].TrimEnd() + "…";

    /// <summary>Encodes prompts (see <see cref="Encode"/>) into an int64 tensor [B, <see cref="ModelMaxLength"/>] on the CPU.</summary>
    public Tensor EncodeBatch(IReadOnlyList<string> prompts, Action<string>? warn = null) => EncodeBatchWithMask(prompts, warn).InputIds;

    /// <summary>Encodes prompts into input ids and attention mask, both int64 [B, <see cref="ModelMaxLength"/>] on the CPU.</summary>
    public (Tensor InputIds, Tensor AttentionMask) EncodeBatchWithMask(IReadOnlyList<string> prompts, Action<string>? warn = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        var ids = new long[prompts.Count * ModelMaxLength];
        var mask = new long[ids.Length];
        for (int b = 0; b < prompts.Count; b++)
        {
            var encoded = Encode(prompts[b], warn);
            for (int i = 0; i < ModelMaxLength; i++)
            {
                ids[b * ModelMaxLength + i] = encoded.InputIds[i];
                mask[b * ModelMaxLength + i] = encoded.AttentionMask[i];
            }
        }
        long[] shape = [prompts.Count, ModelMaxLength];
        return (torch.tensor(ids, shape), torch.tensor(mask, shape));
    }

    /// <summary>
    /// Turns ids back into text like transformers' <c>decode</c>: byte-level tokens are joined and UTF-8 decoded
    /// (invalid bytes become U+FFFD), "&lt;/w&gt;" becomes a space, non-special added tokens stand apart, and with
    /// <c>clean_up_tokenization_spaces</c> spaces before punctuation are removed.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An id that no token has.</exception>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        var parts = new List<string>();
        var current = new List<string>();
        foreach (int id in ids)
        {
            if (skipSpecialTokens && _specialIds.Contains(id)) continue;
            var token = IdToToken(id) ?? throw new ArgumentOutOfRangeException(nameof(ids), id, "no token has this id");
            if (_decodeApart.Contains(token))
            {
                if (current.Count > 0) { parts.Add(TokensToString(current)); current.Clear(); }
                parts.Add(token);
            }
            else current.Add(token);
        }
        if (current.Count > 0) parts.Add(TokensToString(current));
        var text = string.Join(' ', parts);
        return Config.CleanUpTokenizationSpaces ? CleanUpTokenizationSpaces(text) : text;
    }

    private int ResolveSpecial(AddedToken token, string key, string vocabPath)
    {
        if (_addedIds.TryGetValue(token.Content, out int id))
        {
            _addedTokens[id] = _addedTokens[id] with { Special = true };
            return id;
        }
        id = _bpe.TokenToId(token.Content)
             ?? throw new DreamBoothException($"{vocabPath}: {key} '{token.Content}' is not in the vocabulary (nor in added_tokens_decoder)");
        _addedTokens[id] = token with { Special = true };
        _addedIds[token.Content] = id;
        return id;
    }

    /// <summary>
    /// transformers' <c>PreTrainedTokenizer.tokenize</c>: split on added tokens (leftmost, longest first), apply their
    /// lstrip/rstrip/single_word rules to the neighbouring text, then clean + pre-tokenize + BPE each stretch of text.
    /// </summary>
    private void TokenizeCore(string text, List<string>? tokens, List<int>? ids)
    {
        ArgumentNullException.ThrowIfNull(text);
        var segments = SplitOnAddedTokens(text);
        for (int i = 0; i < segments.Count; i++)
        {
            if (!_addedIds.TryGetValue(segments[i], out int addedId)) continue;
            var token = _addedTokens[addedId];
            string? left = i > 0 ? segments[i - 1] : null, right = i < segments.Count - 1 ? segments[i + 1] : null;
            if (token.Rstrip && !string.IsNullOrEmpty(right)) segments[i + 1] = PythonText.StripStart(right);
            if (token.Lstrip && !string.IsNullOrEmpty(left)) segments[i - 1] = PythonText.StripEnd(left);
            if (token.SingleWord && !string.IsNullOrEmpty(left) && left[^1] != ' ')
            {
                segments[i - 1] += segments[i];
                segments[i] = "";
            }
            else if (token.SingleWord && !string.IsNullOrEmpty(right) && right[0] != ' ')
            {
                segments[i + 1] = segments[i] + segments[i + 1];
                segments[i] = "";
            }
        }

        var pieceIds = ids is null ? null : new List<int>();
        foreach (var segment in segments)
        {
            if (segment.Length == 0) continue;
            if (_addedIds.TryGetValue(segment, out int addedId))
            {
                tokens?.Add(segment);
                ids?.Add(addedId);
                continue;
            }
            foreach (var piece in ClipPreTokenizer.Split(ClipTextCleaner.Clean(segment)))
            {
                pieceIds?.Clear();
                _bpe.Encode(piece, tokens, pieceIds);
                if (ids is not null) foreach (int id in pieceIds!) ids.Add(id >= 0 ? id : UnkTokenId);
            }
        }
    }

    /// <summary>Cuts text around every occurrence of an added token (earliest first, the longest at a position); no empty pieces.</summary>
    private List<string> SplitOnAddedTokens(string text)
    {
        var segments = new List<string>();
        int start = 0, pos = 0;
        while (pos < text.Length)
        {
            string? match = null;
            foreach (var content in _addedByLength)
                if (text.AsSpan(pos).StartsWith(content, StringComparison.Ordinal)) { match = content; break; }
            if (match is null) { pos++; continue; }
            if (pos > start) segments.Add(text[start..pos]);
            segments.Add(match);
            pos += match.Length;
            start = pos;
        }
        if (start < text.Length) segments.Add(text[start..]);
        return segments;
    }

    /// <summary>CLIPTokenizer's <c>convert_tokens_to_string</c>: byte-level characters back to bytes, UTF-8, "&lt;/w&gt;" → " ", strip.</summary>
    private static string TokensToString(List<string> tokens)
    {
        var bytes = new List<byte>();
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var token in tokens)
            foreach (char c in token)
            {
                if (ByteLevelAlphabet.CharToByte(c) is byte b) bytes.Add(b);
                else
                {
                    int n = Encoding.UTF8.GetBytes([c], utf8);
                    for (int k = 0; k < n; k++) bytes.Add(utf8[k]);
                }
            }
        var text = Encoding.UTF8.GetString(bytes.ToArray());
        return PythonText.Strip(text.Replace(ClipBpe.EndOfWord, " "));
    }

    /// <summary>transformers' <c>clean_up_tokenization</c>: removes the space before . ? ! , and English contractions.</summary>
    private static string CleanUpTokenizationSpaces(string text) => text
        .Replace(" .", ".").Replace(" ?", "?").Replace(" !", "!").Replace(" ,", ",").Replace(" ' ", "'")
        .Replace(" n't", "n't").Replace(" 'm", "'m").Replace(" 's", "'s").Replace(" 've", "'ve").Replace(" 're", "'re");
}
