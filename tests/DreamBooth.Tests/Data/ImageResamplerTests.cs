using System.Security.Cryptography;
using DreamBooth.Data;
using FluentAssertions;
using Xunit;

namespace DreamBooth.Tests.Data;

/// <summary>
/// The resize must equal Pillow's <c>Image.resize(size, Image.BILINEAR)</c> byte for byte (what torchvision's Resize does
/// to the PIL images in diffusers' train_dreambooth.py). Expected values were produced once with Pillow 9.4.0 (Debian 12
/// python3-pil) on the same synthetic pattern:
/// <c>im.putdata([((x*37+y*11)%256, (x*x+3*y*y)%256, (x*y*5+17)%256) for y in range(h) for x in range(w)])</c>,
/// then <c>hashlib.sha256(im.resize((ow, oh), Image.BILINEAR).tobytes())</c>.
/// </summary>
public class ImageResamplerTests
{
    private static RgbImage Pattern(int w, int h)
    {
        var px = new byte[w * h * 3];
        for (var y = 0; y < h; y++)
            for (var x = 0; x < w; x++)
            {
                var i = (y * w + x) * 3;
                px[i] = (byte)((x * 37 + y * 11) % 256);
                px[i + 1] = (byte)((x * x + 3 * y * y) % 256);
                px[i + 2] = (byte)((x * y * 5 + 17) % 256);
            }
        return new RgbImage(w, h, px);
    }

    [Theory]
    [InlineData(11, 7, 5, 3, "55C586EC83B583FC203FDBD5CC2F687C1DEC4F806E5EF4254CD466685C792DA2")]   // down both axes
    [InlineData(11, 7, 23, 13, "7043A50A399C94D77BB68A4B36D54678AC3AAFEF91BCA5FAE5570D2AC0716173")]  // up both axes
    [InlineData(97, 61, 8, 5, "A3C7F2CD41ED5E13544B8F0B6644C76901EC4DFE8A8762E2EDA6E7919923DB0E")]   // ×12 down: wide kernels
    [InlineData(40, 30, 40, 17, "DCC776BE908436E1CCEC4B209E97D2EB312AFA260D0F1B1984FA62A3B9741A7D")]  // vertical pass only
    [InlineData(13, 9, 6, 9, "63D7445C62A9C2E9A4DCA5895D3859712754605CE8CDA5B5AB07D87A4ADF86F3")]    // horizontal pass only
    [InlineData(300, 200, 96, 64, "1A295CFCF10B98C0AAD11E009D432B18B4DDC263CFBAE93AA7E7BC62EEF3C1FE")]
    [InlineData(50, 80, 64, 102, "FD639420790B7CF9DAF0F944FA39904417CAF78CAF172ADBBB729DB8C76EA425")]
    [InlineData(1, 1, 8, 8, "5667ECBFF3EB6FDE1934675E2B89D4327AF8DDF6B399264A215E22330C9F059D")]
    [InlineData(7, 1, 3, 1, "7BC9A82B52860659F6C1E18B3AED55CD9B18F7519AAA3E2A283CF48DAEE23928")]
    public void Matches_Pillow_bilinear_bit_for_bit(int w, int h, int ow, int oh, string sha256)
    {
        var resized = ImageResampler.ResizeBilinear(Pattern(w, h), ow, oh);
        (resized.Width, resized.Height).Should().Be((ow, oh));
        Convert.ToHexString(SHA256.HashData(resized.Pixels)).Should().Be(sha256);
    }

    [Fact]
    public void Matches_Pillow_values_on_a_small_case()
    {
        byte[] pillow = [39, 5, 20, 111, 12, 29, 184, 30, 38, 75, 57, 48, 93, 89, 56, 63, 31, 29, 135, 38, 58, 190, 56, 92, 83, 83, 126,
            117, 115, 149, 87, 82, 38, 159, 89, 88, 170, 107, 146, 69, 134, 169, 141, 166, 120];
        ImageResampler.ResizeBilinear(Pattern(11, 7), 5, 3).Pixels.ToArray().Should().Equal(pillow);
    }

    [Fact]
    public void Same_size_is_the_same_image_and_solid_colours_stay_solid()
    {
        var img = Pattern(9, 4);
        ImageResampler.ResizeBilinear(img, 9, 4).Should().BeSameAs(img);
        var solid = RgbImage.Solid(37, 23, 12, 200, 99);
        foreach (var (w, h) in new[] { (5, 3), (80, 51), (37, 7), (1, 1) })
            ImageResampler.ResizeBilinear(solid, w, h).Pixels.ToArray().Should().OnlyContain(b => b == 12 || b == 200 || b == 99);
    }
}
