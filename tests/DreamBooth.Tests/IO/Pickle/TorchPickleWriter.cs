using System.Buffers.Binary;
using System.IO.Compression;
using System.Numerics;
using System.Text;
using static TorchSharp.torch;

namespace DreamBooth.Tests.IO.Pickle;

/// <summary>
/// A small C# <c>torch.save</c> for tests and fuzz seeds: state-dict pickles written opcode by opcode the way PyTorch
/// writes them (protocol 2, <c>collections.OrderedDict</c>, <c>torch._utils._rebuild_tensor_v2</c>, persistent ids
/// <c>('storage', torch.FloatStorage, key, 'cpu', numel)</c>), packed into the zip layout (<c>archive/data.pkl</c>,
/// <c>archive/data/KEY</c>, <c>archive/version</c>, <c>archive/byteorder</c>) or the legacy stream.
/// </summary>
public static class TorchPickleWriter
{
    /// <summary>How the tensors are wrapped.</summary>
    public enum Layout
    {
        /// <summary><c>model.state_dict()</c>: an OrderedDict (with its <c>_metadata</c> set by BUILD).</summary>
        OrderedDict,

        /// <summary>A plain dict of <c>nn.Parameter</c>s (<c>_rebuild_parameter</c> around each tensor).</summary>
        ParameterDict,

        /// <summary>A training checkpoint: <c>{"state_dict": OrderedDict, "global_step": 5}</c>.</summary>
        NestedStateDict,
    }

    /// <summary>A storage: its key (file name under <c>data/</c>), storage class, element count and bytes.</summary>
    public sealed record StorageRecord(string Key, string Class, long Numel, byte[] Bytes);

    /// <summary>A tensor as <c>_rebuild_tensor_v2</c> sees it: a strided view of a storage.</summary>
    public sealed record TensorRecord(string Name, StorageRecord Storage, long Offset, long[] Shape, long[] Stride);

    /// <summary>The storage class torch.save names for a dtype.</summary>
    public static string StorageClass(ScalarType t) => t switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Int16 => "ShortStorage",
        ScalarType.Int8 => "CharStorage",
        ScalarType.Byte => "ByteStorage",
        ScalarType.Bool => "BoolStorage",
        _ => throw new ArgumentException($"no storage class for {t}"),
    };

    /// <summary>One contiguous storage per tensor, keys "0", "1", … in order.</summary>
    public static List<TensorRecord> Records(IReadOnlyDictionary<string, Tensor> tensors)
    {
        var records = new List<TensorRecord>();
        foreach (var (name, t) in tensors)
        {
            using var c = t.contiguous();
            var storage = new StorageRecord(records.Count.ToString(), StorageClass(t.dtype), t.numel(), c.bytes.ToArray());
            var shape = t.shape;
            var stride = new long[shape.Length];
            long s = 1;
            for (int i = shape.Length - 1; i >= 0; i--) { stride[i] = s; s *= shape[i]; }
            records.Add(new TensorRecord(name, storage, 0, shape, stride));
        }
        return records;
    }

    /// <summary>torch.save(state_dict) in the zip format.</summary>
    public static byte[] SaveZip(IReadOnlyDictionary<string, Tensor> tensors, Layout layout = Layout.OrderedDict)
    {
        var records = Records(tensors);
        return Zip(StateDictPickle(records, layout), records.Select(r => r.Storage));
    }

    /// <summary>torch.save(state_dict, _use_new_zipfile_serialization=False): the legacy stream.</summary>
    public static byte[] SaveLegacy(IReadOnlyDictionary<string, Tensor> tensors) => Legacy(Records(tensors));

    /// <summary>The data.pkl of a state dict; persistent ids have 5 entries (zip) or 6 (legacy: + view_metadata None).</summary>
    public static byte[] StateDictPickle(IReadOnlyList<TensorRecord> tensors, Layout layout = Layout.OrderedDict, bool legacy = false)
    {
        var p = new PickleBuilder().Proto(2);
        if (layout == Layout.NestedStateDict) p.EmptyDict().Str("state_dict");
        if (layout == Layout.ParameterDict) p.EmptyDict();
        else p.Global("collections", "OrderedDict").EmptyTuple().Reduce();
        p.Mark();
        foreach (var t in tensors)
        {
            p.Str(t.Name);
            if (layout == Layout.ParameterDict) p.Global("torch._utils", "_rebuild_parameter");
            p.Global("torch._utils", "_rebuild_tensor_v2").Mark();
            Persistent(p, t.Storage, legacy);
            p.Int(t.Offset).IntTuple(t.Shape).IntTuple(t.Stride).Bool(false)
                .Global("collections", "OrderedDict").EmptyTuple().Reduce()
                .Tuple().Reduce();
            if (layout == Layout.ParameterDict) p.Bool(true).Global("collections", "OrderedDict").EmptyTuple().Reduce().Op(0x87).Reduce();
        }
        p.SetItems();
        if (layout != Layout.ParameterDict)
        {
            // state_dict()._metadata: {"": {"version": 1}}, set through BUILD like Python's OrderedDict.__reduce__.
            p.EmptyDict().Str("_metadata").Global("collections", "OrderedDict").EmptyTuple().Reduce()
                .Str("").EmptyDict().Str("version").Int(1).SetItem().SetItem().SetItem().Build();
        }
        if (layout == Layout.NestedStateDict) p.SetItem().Str("global_step").Int(5).SetItem();
        return p.Stop().ToArray();
    }

    private static void Persistent(PickleBuilder p, StorageRecord s, bool legacy)
    {
        p.Mark().Str("storage").Global("torch", s.Class).Str(s.Key).Str("cpu").Int(s.Numel);
        if (legacy) p.None();
        p.Tuple().BinPersId();
    }

    /// <summary>Packs a data.pkl and storages like PyTorch ≥ 1.6 (stored, not compressed).</summary>
    public static byte[] Zip(byte[] dataPkl, IEnumerable<StorageRecord> storages, string archive = "archive", string? byteorder = "little")
    {
        using var ms = new MemoryStream();
        using (var zip = new ZipArchive(ms, ZipArchiveMode.Create, leaveOpen: true))
        {
            void Add(string name, byte[] bytes)
            {
                var e = zip.CreateEntry($"{archive}/{name}", CompressionLevel.NoCompression);
                using var s = e.Open();
                s.Write(bytes);
            }
            Add("data.pkl", dataPkl);
            if (byteorder is not null) Add("byteorder", Encoding.ASCII.GetBytes(byteorder));
            foreach (var s in storages.DistinctBy(s => s.Key)) Add($"data/{s.Key}", s.Bytes);
            Add("version", "3\n"u8.ToArray());
        }
        return ms.ToArray();
    }

    /// <summary>The legacy stream: magic, protocol 1001, sys_info, the state dict, the sorted key list, then each storage.</summary>
    public static byte[] Legacy(IReadOnlyList<TensorRecord> tensors)
    {
        using var ms = new MemoryStream();
        var magic = BigInteger.Parse("119547037146038801333356").ToByteArray();
        ms.Write(new PickleBuilder().Proto(2).Op(0x8a).Op((byte)magic.Length).Raw(magic).Stop().ToArray());
        ms.Write(new PickleBuilder().Proto(2).Int(1001).Stop().ToArray());
        ms.Write(new PickleBuilder().Proto(2).EmptyDict().Mark()
            .Str("protocol_version").Int(1001).Str("little_endian").Bool(true)
            .Str("type_sizes").EmptyDict().Mark().Str("short").Int(2).Str("int").Int(4).Str("long").Int(4).SetItems()
            .SetItems().Stop().ToArray());
        ms.Write(StateDictPickle(tensors, Layout.OrderedDict, legacy: true));
        var storages = tensors.Select(t => t.Storage).DistinctBy(s => s.Key).OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
        var keys = new PickleBuilder().Proto(2).EmptyList().Mark();
        foreach (var s in storages) keys.Str(s.Key);
        ms.Write(keys.Appends().Stop().ToArray());
        Span<byte> count = stackalloc byte[8];
        foreach (var s in storages)
        {
            BinaryPrimitives.WriteInt64LittleEndian(count, s.Numel);
            ms.Write(count);
            ms.Write(s.Bytes);
        }
        return ms.ToArray();
    }
}
